import logging
from aperture_plugins.cli import main
from .conftest import CANARY

def test_leaks_after_cli(capsys):
    main(["providers"])
    logging.getLogger("httpcore.x").debug("header %s", CANARY)

def test_leaks_plain():
    logging.getLogger("x").debug("header %s", CANARY)

def test_leaks_exc():
    try:
        raise RuntimeError(CANARY)
    except RuntimeError:
        logging.getLogger("y").debug("failed", exc_info=True)

def test_no_leak():
    logging.getLogger("x").debug("header %s", "nothing")
