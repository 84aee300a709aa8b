"""The run store of a command: ``--store URL``, ``FISCUS_STORE``, ``.fiscus/runs.db``.

``fiscus run`` records in this store and ``fiscus runs`` reads it, through
the one helper here, so that both always name the same store. Imports no
other module of the CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

from fiscus_dsl._runtime.store_url import (
    ENVIRONMENT_VARIABLE,
    SQLITE,
    environment_store_url,
    open_store,
)
from fiscus_dsl.errors import ConfigurationError

if TYPE_CHECKING:
    from fiscus_dsl._runtime.store import RunStore

#: Where ``fiscus run`` records runs when neither ``--store`` nor
#: ``FISCUS_STORE`` names a store: relative to the current directory.
CLI_STORE: Final = ".fiscus/runs.db"


def cli_store(url: str | None, *, create: bool = True) -> RunStore:
    """Return the store ``fiscus run`` records in and ``fiscus runs`` reads.

    ``--store``'s URL, else ``FISCUS_STORE``'s, else ``.fiscus/runs.db``
    under the current directory, which only a command that records
    (``create``) makes: reading a folder leaves no file behind.

    Raises:
        ConfigurationError: The URL is no store URL, or there is no
            ``.fiscus/runs.db`` to read.
        RunStoreError: The store's file cannot be opened.
    """
    if url is not None:
        return open_store(url, option="--store", make_folder=True)
    from_environment = environment_store_url()
    if from_environment is not None:
        return open_store(from_environment, option=ENVIRONMENT_VARIABLE)
    if not create and not Path(CLI_STORE).is_file():
        msg = (
            f"No runs recorded here: {CLI_STORE} does not exist in {Path.cwd()} "
            "(fiscus run records there); run this from the folder the runs "
            "started in, or name their store with --store URL or FISCUS_STORE"
        )
        raise ConfigurationError(msg, option="--store")
    return open_store(SQLITE + CLI_STORE, option="--store", make_folder=True)
