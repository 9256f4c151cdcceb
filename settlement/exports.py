"""Files for people and other systems: invoice JSON and settlement lines as Parquet.

Every file goes through `write_file`, which is careful the way an operator expects at 3 a.m.:
- it never overwrites an existing file unless asked (`force`);
- it never follows a symlink, neither the file's nor the export directory's;
- it creates at most the one directory asked for (its parent must exist), never a chain;
- it writes to a temporary file in the same directory and renames it, so a reader never sees
  half a file; files are created 0600 (invoices carry names and e-mails; settlement lines
  carry metering points and amounts);
- a wrong path is an ExportError with one line.
"""

from __future__ import annotations

import io
import json
import os
import stat
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from schemas.calendar import BillingPeriod
from schemas.codelists import BillingFrequency
from schemas.errors import ElflowError
from settlement.settled_period import require_settled
from storage import invoice_documents as documents
from storage import invoices as store
from storage.db import Conn

FILE_MODE = 0o600
DIRECTORY_MODE = 0o700


class ExportError(ElflowError):
    """An export cannot be written where it was asked to go (one line)."""


def export_directory(directory: Path) -> Path:
    """`directory`, created (0700) if missing and its parent exists; never a symlink."""
    try:
        info = directory.lstat()
    except FileNotFoundError:
        parent = directory.parent
        if not parent.is_dir() or parent.is_symlink():
            raise ExportError(
                f"{directory}: its parent {parent} is not an existing directory"
            ) from None
        directory.mkdir(mode=DIRECTORY_MODE)
        return directory
    if stat.S_ISLNK(info.st_mode):
        raise ExportError(f"{directory} is a symbolic link; give the real directory")
    if not stat.S_ISDIR(info.st_mode):
        raise ExportError(f"{directory} exists and is not a directory")
    return directory


def write_file(path: Path, data: bytes, *, force: bool = False) -> Path:
    """Write `data` to `path` atomically with mode 0600 (rules in the module docstring)."""
    parent = path.parent
    if not parent.is_dir():
        raise ExportError(f"{path}: directory {parent} does not exist")
    if parent.is_symlink():
        raise ExportError(f"{path}: directory {parent} is a symbolic link")
    try:
        info: os.stat_result | None = path.lstat()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise ExportError(f"{path}: {exc.strerror}") from None
    if info is not None:
        if stat.S_ISLNK(info.st_mode):
            raise ExportError(f"{path} is a symbolic link; refusing to write through it")
        if stat.S_ISDIR(info.st_mode):
            raise ExportError(f"{path} is a directory, not a file")
        if not force:
            raise ExportError(f"{path} exists; use --force to overwrite it")
    tmp = parent / f".{path.name[:64]}.{uuid.uuid4().hex}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    except OSError as exc:
        raise ExportError(f"{path}: cannot write in {parent}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if force:
            os.replace(tmp, path)  # rename replaces a link or file itself, never its target
        else:
            os.link(tmp, path)  # fails if the file appeared meanwhile: never overwrite
    except FileExistsError:
        raise ExportError(f"{path} exists; use --force to overwrite it") from None
    except OSError as exc:
        raise ExportError(f"{path}: {exc.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _iso(value: Any) -> str | None:
    return None if value is None else str(value.isoformat())


def invoice_document(conn: Conn, invoice_id: uuid.UUID) -> dict[str, Any]:
    """An invoice as a JSON-ready dict; every amount and quantity is a string, never a float."""
    found = documents.invoice_with_lines(conn, invoice_id)
    if found is None:
        raise KeyError(f"no invoice {invoice_id}")
    head, lines = found
    period = BillingPeriod(BillingFrequency(head["frequency"]), head["period_start"])
    return {
        "invoice": {
            "id": str(head["id"]),
            # Assigned when issued (gap-free per series); null for a Draft.
            "number": head["invoice_number"],
            "type": head["type"],
            "status": head["status"],
            "issued_at": _iso(head["issued_at"]),
            "due_date": _iso(head["due_date"]),
            "created_at": _iso(head["created_at"]),
            "settlement_run_id": _text(head["settlement_run_id"]),
            "corrects_invoice_id": _text(head["corrects_invoice_id"]),
            "payment_term_days": head["payment_term_days"],
            "currency": "DKK",
        },
        "customer": {
            "id": str(head["customer_id"]),
            "name": head["customer_name"],
            "contact_type": head["contact_type"],
            # A CVR number belongs on a business invoice; a CPR number never goes on one.
            "cvr": head["cpr_cvr"] if head["contact_type"] == "Business" else None,
            "email": head["email"],
        },
        "period": {
            "label": period.label,
            "frequency": head["frequency"],
            "start": _iso(head["period_start"]),
            "end": _iso(head["period_end"]),
        },
        "lines": [
            {
                "line_no": line_no,
                "metering_point_id": line.metering_point_id or None,
                "charge_type": line.charge_type,
                "aconto_kind": None if line.aconto_kind is None else str(line.aconto_kind),
                "description": line.description,
                "quantity": _text(line.quantity),
                "unit_price": _text(line.unit_price),
                "amount": _text(line.amount),
            }
            for line_no, line in lines
        ],
        "totals": {
            "total_ex_vat": _text(head["total_ex_vat"]),
            "vat_amount": _text(head["vat_amount"]),
            "total_incl_vat": _text(head["total_incl_vat"]),
        },
    }


def export_invoice_json(
    conn: Conn, invoice_id: uuid.UUID, directory: Path, *, force: bool = False
) -> Path:
    """`<directory>/<invoice id>.json` (the directory as `export_directory` allows)."""
    text = json.dumps(invoice_document(conn, invoice_id), ensure_ascii=False, indent=2)
    return write_file(directory / f"{invoice_id}.json", (text + "\n").encode(), force=force)


def export_settlement_lines(
    conn: Conn, period: BillingPeriod, path: Path, *, force: bool = False
) -> int:
    """The settlement lines of the period's latest completed runs as Parquet; kWh as
    decimal128(18,3) and amounts as decimal128(20,6), never floats. Returns the row count.

    Raises UnsettledPeriod (no file written) when a supplied grid area of the period has no
    completed settlement run."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    require_settled(conn, period)
    rows = documents.lines_of_runs(conn, store.latest_completed_runs(conn, period))
    schema = pa.schema(
        [
            ("month", pa.date32()),
            ("grid_area_code", pa.string()),
            ("settlement_run_id", pa.string()),
            ("run_version", pa.int32()),
            ("metering_point_id", pa.string()),
            ("charge_type", pa.string()),
            ("contract_id", pa.string()),
            ("total_kwh", pa.decimal128(18, 3)),
            ("total_amount", pa.decimal128(20, 6)),
            ("vat_amount", pa.decimal128(20, 6)),
        ]
    )
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    as_text = {2, 6}
    arrays = [
        pa.array(
            [None if v is None else str(v) for v in column] if n in as_text else list(column),
            type=schema.field(n).type,
        )
        for n, column in enumerate(columns)
    ]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), buffer)
    write_file(path, buffer.getvalue(), force=force)
    return len(rows)
