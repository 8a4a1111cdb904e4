"""Run documented commands inside one interpreter of the base venv (tests/test_documented_commands.py): each through
the real entry point `metazoo_cli.app.main`, stdout/stderr captured, an escaping exception recorded with its
traceback. Usage: python docs_driver.py COMMANDS.json RESULTS.json (commands: [{"argv": [...], "env": {...}}])."""
import contextlib
import io
import json
import os
import sys
import time
import traceback


def run(argv: list[str], env: dict[str, str]) -> dict:
    from metazoo_cli.app import main

    out, err = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    sys.argv = ["metazoo", *argv]
    code, crash, t0 = 0, None, time.time()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # noqa: BLE001 - a traceback is what the test must catch
        code, crash = 1, traceback.format_exc()
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    return {"argv": argv, "code": code, "stdout": out.getvalue(), "stderr": err.getvalue(), "crash": crash,
            "seconds": round(time.time() - t0, 1)}


if __name__ == "__main__":
    commands_path, results_path = sys.argv[1], sys.argv[2]
    commands = json.loads(open(commands_path).read())
    results = []
    for c in commands:
        results.append(run(c["argv"], c.get("env", {})))
        print(f"{results[-1]['seconds']:6.1f} s  exit {results[-1]['code']}  metazoo {' '.join(c['argv'])}",
              file=sys.__stderr__, flush=True)
        with open(results_path, "w") as f:
            json.dump(results, f)
