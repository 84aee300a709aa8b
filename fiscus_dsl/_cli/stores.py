"""The run store of a command: ``--store URL``, ``FISCUS_STORE``, ``.fiscus/runs.db``.

``fiscus run`` records in this store and ``fiscus runs`` reads it, through
the one helper here, so that both always name the same store. Imports no
other module of the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from fiscus_dsl._runtime.store_url import (
    ENVIRONMENT_VARIABLE,
    SQLITE,
    environment_store_url,
    open_store,
)

if TYPE_CHECKING:
    from fiscus_dsl._runtime.store import RunStore

#: Where ``fiscus run`` records runs when neither ``--store`` nor
#: ``FISCUS_STORE`` names a store: relative to the current directory.
CLI_STORE: Final = ".fiscus/runs.db"


def cli_store(url: str | None) -> RunStore:
    """Return the store ``fiscus run`` records in and ``fiscus runs`` reads.

    ``--store``'s URL, else ``FISCUS_STORE``'s, else ``.fiscus/runs.db``
    under the current directory.

    Raises:
        ConfigurationError: The URL is no store URL.
        RunStoreError: The store's file cannot be opened.
    """
    if url is not None:
        return open_store(url, option="--store", make_folder=True)
    from_environment = environment_store_url()
    if from_environment is not None:
        return open_store(from_environment, option=ENVIRONMENT_VARIABLE)
    return open_store(SQLITE + CLI_STORE, option="--store", make_folder=True)
