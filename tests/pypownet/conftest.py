"""Markers of the pypownet comparison suite."""


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: may take minutes (builds pypownet's side venv "
                            "on first use)")
