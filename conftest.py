"""Root conftest: the native-stack fixtures are shared by every phase's tests."""

pytest_plugins = ["fraud_infra.testing", "transforms.testing"]
