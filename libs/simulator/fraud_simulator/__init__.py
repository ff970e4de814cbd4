"""The transaction simulator (the Fraud Detection Handbook's design plus the platform's
own fraud scenarios): customers, terminals, transactions and their delayed labels."""
