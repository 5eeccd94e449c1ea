"""Running the real ``uao`` entry point from tests."""
from uao_deploy.cli import main


def uao(capsys, *args):
    """Run the real entry point (as the `uao` script does): (exit code, stdout, stderr)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err
