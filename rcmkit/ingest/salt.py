"""The secret salt of a practice's patient pseudonyms.

``patient_key`` is a salted SHA-256 of the patient's member ID and birth date (837) or account number (PM
export). Both are on an insurance card, so with a public salt anyone holding the tables could find a patient's
claims. rcmkit never uses a public salt for a real practice without saying so:

1. the environment variable (``RCMKIT_PATIENT_SALT`` by default) when it is set; else
2. the practice's own secret, ``<data root>/.rcmkit-secrets/<practice>.salt`` (owner-only, outside the practice's
   folder so that a copy of the tables does not carry it), created with 32 random bytes on the practice's first
   ingest; else
3. a refusal, when the practice already holds tables but no secret: its keys were made with another salt, and a
   new one would split every patient in two.

The demo practice is written with the public demo salt, and its secret file says so (:func:`write_salt`).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from rcmkit.core import store
from rcmkit.errors import RcmkitError

__all__ = ["SALT_ENV", "SALT_DIR", "SaltError", "salt_path", "practice_salt", "write_salt"]

SALT_ENV = "RCMKIT_PATIENT_SALT"
SALT_DIR = ".rcmkit-secrets"


class SaltError(RcmkitError, ValueError):
    """No salt can be used safely: the practice holds tables but its secret is missing."""


def salt_path(root: str | os.PathLike, practice: str) -> Path:
    store.practice_dir(root, practice)  # validates the practice name
    return Path(root) / SALT_DIR / f"{practice}.salt"


def write_salt(root: str | os.PathLike, practice: str, salt: bytes) -> Path:
    """Save ``salt`` as the practice's secret (owner-only file in an owner-only folder); returns its path."""
    path = salt_path(root, practice)
    store.make_dirs(path.parent)
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    store.write_file(tmp, salt)
    os.replace(tmp, path)
    return path


def practice_salt(root: str | os.PathLike, practice: str, env: str = SALT_ENV) -> tuple[bytes, str]:
    """(salt, one line for people saying which salt is used and where it lives)."""
    value = os.environ.get(env)
    if value:
        return value.encode("utf-8"), f"patient pseudonyms: salted with the secret in ${env}"
    path = salt_path(root, practice)
    if path.is_file():
        data = path.read_bytes().strip()
        if not data:
            raise SaltError(f"{path} is empty: restore the practice's secret salt from its backup, or set ${env}")
        return data, f"patient pseudonyms: salted with the practice's secret {path}"
    if store.has_tables(root, practice, ("claims",)) or store.has_tables(root, practice, ("ingested_files",)):
        raise SaltError(
            f"practice {practice!r} already holds tables but has no secret salt ({path}): its patient keys were "
            f"made with another salt and a new one would split every patient in two. Set ${env} to the salt "
            f"used before (rcmkit's old built-in default is public: re-ingest into a new practice to protect "
            f"the patients), or restore {path} from its backup")
    salt = secrets.token_hex(32).encode("ascii")
    write_salt(root, practice, salt)
    return salt, (f"patient pseudonyms: created a random secret salt for practice {practice!r} at {path} "
                  "(owner-only; back it up with the data, and keep it out of copies you share)")
