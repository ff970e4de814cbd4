"""Root conftest: the native-stack and lakehouse fixtures are shared by every phase's tests."""

pytest_plugins = ["fraud_testing.stack", "fraud_testing.lakehouse"]
