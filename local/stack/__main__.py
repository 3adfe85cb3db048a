"""``python -m local.stack up|down|status|clean|…`` — see ``local.stack.control``."""


from eventbus.cli import exit_with
from local.stack.control import main

exit_with(main)
