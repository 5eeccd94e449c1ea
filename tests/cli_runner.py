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


def assert_refused(result, *needles, code=1):
    """Exit ``code`` with exactly one line on stderr, no traceback, naming the problem."""
    exit_code, _, stderr = result
    assert exit_code == code, stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr, stderr
    for needle in needles:
        assert needle in stderr, stderr
    return stderr
