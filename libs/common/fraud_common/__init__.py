"""What every service of the platform needs: settings defaults, logging, S3, Trino REST."""
