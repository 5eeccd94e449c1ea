"""``python -m uao_deploy`` is the ``uao`` command."""
from .cli import main

main()
