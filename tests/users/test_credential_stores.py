"""The credential stores: one suite over memory, a SQLite file and PostgreSQL.

``store`` is each of the three in turn (PostgreSQL on a database of the
test's own, ``postgres_database``); ``sealed`` is each store that encrypts,
as a ``Place`` that opens store objects on the same file or database and
reads the raw rows. Then what is SQLite's or PostgreSQL's own (a second
process, a file that will not open, a server that does not answer), the
keys, ``open_credential_store`` and ``StoredCredential`` itself.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

import psycopg
import pytest
from cryptography.fernet import Fernet
from loopback import free_port

from fiscus_dsl import ConfigurationError, Secret
from fiscus_dsl._runtime.sqlite_store import SQLiteRunStore
from fiscus_dsl._users.credential_sql import (
    PostgresCredentialStore,
    SQLiteCredentialStore,
    open_credential_store,
)
from fiscus_dsl._users.credentials import (
    CredentialStore,
    MemoryCredentialStore,
    StoredCredential,
)
from fiscus_dsl.errors import CredentialStoreError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from fiscus_dsl._users.sealed import CredentialKeys

KEY: Final = Fernet.generate_key()
OTHER_KEY: Final = Fernet.generate_key()
API_KEY: Final = "sk_live_api_key_0f3a9c"
ACCESS: Final = "at_live_access_token_7b21e4"
REFRESH: Final = "rt_live_refresh_token_c98d55"


def api_key(value: str = API_KEY) -> StoredCredential:
    return StoredCredential(kind="api_key", api_key=Secret(value))


def oauth2(access: str = ACCESS, refresh: str = REFRESH) -> StoredCredential:
    return StoredCredential(
        kind="oauth2",
        access_token=Secret(access),
        refresh_token=Secret(refresh),
        expires_at=1_900_000_000.5,
        scope="contacts.read contacts.write",
        token_type="bearer",
    )


@dataclass
class Place:
    """Where a store keeps its credentials: opens store objects there, reads raw."""

    kind: Literal["memory", "sqlite", "postgres"]
    location: str
    opened: list[CredentialStore] = field(default_factory=list)

    def open(self, key: CredentialKeys = KEY) -> CredentialStore:
        store: CredentialStore
        if self.kind == "memory":
            store = self.opened[0] if self.opened else MemoryCredentialStore()
        elif self.kind == "sqlite":
            store = SQLiteCredentialStore(self.location, key=key)
        else:
            store = PostgresCredentialStore(self.location, key=key)
        self.opened.append(store)
        return store

    def raw(self) -> bytes:
        """Return every byte the database holds for the credentials."""
        if self.kind == "sqlite":
            files = [Path(self.location), Path(f"{self.location}-wal")]
            return b"".join(path.read_bytes() for path in files if path.exists())
        with psycopg.connect(self.location) as connection:
            rows = connection.execute(
                "SELECT user_id, connector, version, updated_at::text, sealed "
                "FROM fiscus_credentials"
            ).fetchall()
        return b"".join(
            b"|".join(str(cell).encode() for cell in row[:4]) + bytes(row[4])
            for row in rows
        )

    def execute(self, statement: str) -> None:
        """Run one statement on the database, as another program would."""
        if self.kind == "sqlite":
            with sqlite3.connect(self.location) as connection:
                connection.execute(statement)
            return
        with psycopg.connect(self.location) as connection:
            connection.execute(statement)

    def set_sealed(self, user_id: str, sealed: bytes) -> None:
        """Write the sealed column of a user's rows, as another program would."""
        statement = "UPDATE fiscus_credentials SET sealed = {0} WHERE user_id = {0}"
        if self.kind == "sqlite":
            with sqlite3.connect(self.location) as connection:
                connection.execute(statement.format("?"), (sealed, user_id))
            return
        with psycopg.connect(self.location) as connection:
            connection.execute(statement.format("%s"), (sealed, user_id))

    def close(self) -> None:
        for store in self.opened:
            store.close()  # type: ignore[attr-defined]  # every store here has close()


def _place(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> Iterator[Place]:
    if kind == "postgres":
        location = request.getfixturevalue("postgres_database")
    else:
        location = str(tmp_path / "credentials.db")
    place = Place(kind=kind, location=location)  # type: ignore[arg-type]  # one of the three
    yield place
    place.close()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CredentialStore]:
    """Each store in turn, empty."""
    for place in _place(request, tmp_path, request.param):
        yield place.open()


@pytest.fixture(params=["sqlite", "postgres"])
def sealed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Place]:
    """Each store that encrypts, as the place its store objects share."""
    yield from _place(request, tmp_path, request.param)


# ------------------------------------------------------------- every store


def test_an_api_key_round_trips(store: CredentialStore) -> None:
    stored = store.put("ada", "crm", api_key())

    found = store.get("ada", "crm")

    assert stored == StoredCredential(
        kind="api_key", api_key=Secret(API_KEY), version=1
    )
    assert found == stored
    assert found is not None
    assert found.api_key is not None
    assert found.api_key.reveal() == API_KEY


def test_oauth2_tokens_round_trip(store: CredentialStore) -> None:
    store.put("ada", "crm", oauth2())

    found = store.get("ada", "crm")

    assert found is not None
    assert found.access_token is not None
    assert found.refresh_token is not None
    assert (found.access_token.reveal(), found.refresh_token.reveal()) == (
        ACCESS,
        REFRESH,
    )
    assert (found.kind, found.expires_at, found.scope, found.token_type) == (
        "oauth2",
        1_900_000_000.5,
        "contacts.read contacts.write",
        "bearer",
    )
    assert (found.api_key, found.version) == (None, 1)


def test_nothing_stored_reads_as_none(store: CredentialStore) -> None:
    assert store.get("ada", "crm") is None
    assert store.connectors("ada") == []


def test_put_bumps_the_version_and_keeps_the_last(store: CredentialStore) -> None:
    first = store.put("ada", "crm", api_key("sk_first_000"))
    second = store.put("ada", "crm", api_key("sk_second_000"))

    found = store.get("ada", "crm")

    assert (first.version, second.version) == (1, 2)
    assert found == StoredCredential(
        kind="api_key", api_key=Secret("sk_second_000"), version=2
    )


def test_delete_removes_and_says_whether_there_was_one(store: CredentialStore) -> None:
    store.put("ada", "crm", api_key())
    store.put("ada", "billing", api_key())

    assert store.delete("ada", "crm") is True
    assert store.delete("ada", "crm") is False
    assert store.get("ada", "crm") is None
    assert store.connectors("ada") == ["billing"]


def test_connectors_are_the_users_own_sorted(store: CredentialStore) -> None:
    for name in ("zendesk", "crm", "github"):
        store.put("ada", name, api_key())
    store.put("bob", "slack", api_key())

    assert store.connectors("ada") == ["crm", "github", "zendesk"]
    assert store.connectors("bob") == ["slack"]


def test_users_are_isolated(store: CredentialStore) -> None:
    store.put("ada", "crm", api_key("sk_ada_0000"))
    store.put("bob", "crm", api_key("sk_bob_0000"))
    store.delete("bob", "crm")

    found = store.get("ada", "crm")

    assert found is not None
    assert found.api_key == Secret("sk_ada_0000")
    assert store.get("bob", "crm") is None


def test_replace_of_the_current_version_stores_the_next(store: CredentialStore) -> None:
    store.put("ada", "crm", oauth2())

    replaced = store.replace("ada", "crm", oauth2("at_fresh_0000"), expected_version=1)

    assert replaced is not None
    assert replaced.version == 2
    assert store.get("ada", "crm") == replaced


def test_replace_of_a_stale_version_returns_none_and_leaves_the_row(
    store: CredentialStore,
) -> None:
    store.put("ada", "crm", oauth2())
    winner = store.replace("ada", "crm", oauth2("at_winner_000"), expected_version=1)

    late = store.replace("ada", "crm", oauth2("at_late_00000"), expected_version=1)

    assert late is None
    assert store.get("ada", "crm") == winner


def test_replace_from_version_0_stores_only_where_none_is(
    store: CredentialStore,
) -> None:
    first = store.replace("ada", "crm", api_key("sk_first_000"), expected_version=0)

    second = store.replace("ada", "crm", api_key("sk_second_00"), expected_version=0)

    assert first is not None
    assert first.version == 1
    assert second is None
    assert store.get("ada", "crm") == first


def test_replace_does_not_bring_back_a_deleted_credential(
    store: CredentialStore,
) -> None:
    store.put("ada", "crm", oauth2())
    store.delete("ada", "crm")

    assert store.replace("ada", "crm", oauth2(), expected_version=1) is None
    assert store.get("ada", "crm") is None


def test_one_of_8_threads_replacing_one_version_wins(store: CredentialStore) -> None:
    store.put("ada", "crm", oauth2())
    results = _race(lambda index: store, 8)

    winners = [(index, stored) for index, stored in results.items() if stored]

    assert len(winners) == 1
    ((index, stored),) = winners
    assert stored.version == 2
    assert store.get("ada", "crm") == stored
    assert stored.access_token == Secret(f"at_thread_{index}_000")


def _race(
    store_of: Callable[[int], CredentialStore], count: int
) -> dict[int, StoredCredential | None]:
    """Replace version 1 of ada's crm credential from ``count`` threads at once."""
    barrier = threading.Barrier(count)
    results: dict[int, StoredCredential | None] = {}

    def replace(index: int) -> None:
        own = store_of(index)
        barrier.wait()
        fresh = oauth2(f"at_thread_{index}_000")
        results[index] = own.replace("ada", "crm", fresh, expected_version=1)

    threads = [threading.Thread(target=replace, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.parametrize(
    ("call", "option"),
    [
        (lambda store: store.get("", "crm"), "user_id"),
        (lambda store: store.put("ada", 7, api_key()), "connector"),
        (lambda store: store.connectors(""), "user_id"),
        (
            lambda store: store.replace("ada", "crm", api_key(), expected_version=-1),
            "expected_version",
        ),
        (
            lambda store: store.replace("ada", "crm", api_key(), expected_version=True),
            "expected_version",
        ),
    ],
)
def test_a_store_refuses_a_wrong_name_or_version(
    store: CredentialStore, call: object, option: str
) -> None:
    with pytest.raises(ConfigurationError, match=option) as caught:
        call(store)  # type: ignore[operator]  # a lambda

    assert caught.value.option == option


def test_memory_keeps_the_secrets_as_given() -> None:
    store = MemoryCredentialStore()
    credential = oauth2()

    stored = store.put("ada", "crm", credential)

    assert stored.access_token is credential.access_token
    assert repr(store) == "MemoryCredentialStore()"
    with store as same:
        assert same is store


# --------------------------------------------------- the stores that encrypt


def test_the_database_never_holds_a_token(sealed: Place) -> None:
    store = sealed.open()
    store.put("ada-lovelace", "crm", oauth2())
    store.put("ada-lovelace", "billing", api_key())
    store.replace(
        "ada-lovelace", "crm", oauth2(refresh="rt_second_0000"), expected_version=1
    )

    raw = sealed.raw()

    assert b"ada-lovelace" in raw  # the plain columns are there
    for text in (API_KEY, ACCESS, REFRESH, "rt_second_0000", "contacts.read"):
        assert text.encode() not in raw


def test_a_wrong_key_is_a_credential_store_error_without_a_token(
    sealed: Place,
) -> None:
    sealed.open().put("ada", "crm", oauth2())
    wrong = sealed.open(OTHER_KEY)

    with pytest.raises(
        CredentialStoreError,
        match=r"^Credential store \w+CredentialStore\('.+'\): the key does not "
        r"decrypt the credentials stored for user 'ada' connector 'crm'; pass the "
        r"key they were stored with, or a list of keys with it last$",
    ) as caught:
        wrong.get("ada", "crm")

    message = str(caught.value)
    for text in (ACCESS, REFRESH, KEY.decode(), OTHER_KEY.decode(), "gAAAAA"):
        assert text not in message
    assert caught.value.store == sealed.location
    assert wrong.connectors("ada") == ["crm"]  # the plain columns still read


def test_keys_rotate(sealed: Place) -> None:
    sealed.open(KEY).put("ada", "crm", oauth2())
    both = sealed.open([Secret(OTHER_KEY.decode()), KEY])

    before = both.get("ada", "crm")
    both.put("bob", "crm", api_key())  # sealed with the new key
    new_only = sealed.open(OTHER_KEY)
    bob = new_only.get("bob", "crm")
    with pytest.raises(CredentialStoreError, match="user 'ada' connector 'crm'"):
        new_only.get("ada", "crm")
    rotated = both.rotate()  # type: ignore[attr-defined]  # a SealedStore

    assert before is not None
    assert before.access_token == Secret(ACCESS)
    assert bob is not None
    assert bob.api_key == Secret(API_KEY)
    assert rotated == 2
    assert new_only.get("ada", "crm") == before  # same fields, same version


def test_rotate_with_no_key_that_decrypts_stops(sealed: Place) -> None:
    sealed.open(KEY).put("ada", "crm", oauth2())

    with pytest.raises(CredentialStoreError, match="user 'ada' connector 'crm'"):
        sealed.open(OTHER_KEY).rotate()  # type: ignore[attr-defined]  # a SealedStore


def test_a_row_copied_under_another_user_does_not_open(sealed: Place) -> None:
    store = sealed.open()
    store.put("ada", "crm", oauth2())
    store.put("eve", "crm", oauth2("at_eve_000000"))
    sealed.execute(
        "UPDATE fiscus_credentials SET sealed = (SELECT sealed FROM "
        "fiscus_credentials WHERE user_id = 'ada') WHERE user_id = 'eve'"
    )

    with pytest.raises(
        CredentialStoreError,
        match=r"the credential stored for user 'eve' connector 'crm' was sealed "
        r"for another user or connector, or by another program; store the "
        r"user's credential again$",
    ) as caught:
        store.get("eve", "crm")

    assert ACCESS not in str(caught.value)
    assert caught.value.__cause__ is None  # it would hold the decrypted text


@pytest.mark.parametrize(
    "plain", [b"not json", b'{"user_id": "ada"}', b'{"user_id": "ada", "connector": 1}']
)
def test_a_token_that_holds_no_credential_does_not_open(
    sealed: Place, plain: bytes
) -> None:
    store = sealed.open()
    store.put("ada", "crm", oauth2())
    sealed.set_sealed("ada", Fernet(KEY).encrypt(plain))

    with pytest.raises(
        CredentialStoreError, match=r"'ada' connector 'crm' was sealed for another"
    ) as caught:
        store.get("ada", "crm")

    assert caught.value.__cause__ is None  # it would hold the decrypted text


def test_two_store_objects_see_each_others_writes(sealed: Place) -> None:
    first, second = sealed.open(), sealed.open()

    first.put("ada", "crm", oauth2())
    seen = second.get("ada", "crm")
    replaced = second.replace("ada", "crm", oauth2("at_second_000"), expected_version=1)

    assert seen is not None
    assert seen.version == 1
    assert first.get("ada", "crm") == replaced
    assert first.replace("ada", "crm", oauth2(), expected_version=1) is None


def test_one_of_8_store_objects_replacing_one_version_wins(sealed: Place) -> None:
    stores = [sealed.open() for _ in range(8)]
    stores[0].put("ada", "crm", oauth2())

    results = _race(lambda index: stores[index], 8)

    winners = [index for index, stored in results.items() if stored]
    assert len(winners) == 1
    found = stores[0].get("ada", "crm")
    assert found is not None
    assert found.access_token == Secret(f"at_thread_{winners[0]}_000")


def test_a_closed_store_raises_credential_store_error(sealed: Place) -> None:
    store = sealed.open()
    store.close()  # type: ignore[attr-defined]  # a SealedStore

    with pytest.raises(CredentialStoreError, match="could not read the credential"):
        store.get("ada", "crm")


# ------------------------------------------------------------ SQLite's own


_CHILD: Final = """
import sys
from fiscus_dsl import Secret
from fiscus_dsl._users.credential_sql import SQLiteCredentialStore
from fiscus_dsl._users.credentials import StoredCredential

path, key = sys.argv[1:3]
with SQLiteCredentialStore(path, key=key) as store:
    seen = store.get("ada", "crm")
    print(seen.api_key.reveal(), seen.version)
    fresh = StoredCredential(kind="api_key", api_key=Secret("sk_from_child_0"))
    print(store.replace("ada", "crm", fresh, expected_version=seen.version).version)
"""


def test_two_processes_share_a_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "credentials.db"
    with SQLiteCredentialStore(path, key=KEY) as store:
        store.put("ada", "crm", api_key())

        child = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path), KEY.decode()],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )

        assert child.returncode == 0, child.stderr
        assert child.stdout.split("\n") == [f"{API_KEY} 1", "2", ""]
        assert store.get("ada", "crm") == StoredCredential(
            kind="api_key", api_key=Secret("sk_from_child_0"), version=2
        )


def test_a_sqlite_file_may_be_the_run_stores(tmp_path: Path) -> None:
    path = tmp_path / "fiscus.db"
    with SQLiteRunStore(path) as runs, SQLiteCredentialStore(path, key=KEY) as store:
        store.put("ada", "crm", api_key())
        assert runs.list_runs() == []
    with SQLiteRunStore(path), SQLiteCredentialStore(path, key=KEY) as again:
        assert again.connectors("ada") == ["crm"]


def test_a_file_sqlite_cannot_open_is_a_credential_store_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder" / "credentials.db"
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database, not at all " * 64)

    with pytest.raises(
        CredentialStoreError,
        match=r"^Credential store SQLiteCredentialStore\('.+credentials\.db'\) could "
        r"not open the file: OperationalError: unable to open database file; check "
        r"that the file and its folder are writable",
    ) as caught:
        SQLiteCredentialStore(missing, key=KEY)
    with pytest.raises(CredentialStoreError, match="file is not a database"):
        SQLiteCredentialStore(garbage, key=KEY)

    assert caught.value.store == str(missing)


# -------------------------------------------------------- PostgreSQL's own


def test_a_server_that_does_not_answer_is_a_credential_store_error() -> None:
    port = free_port()
    url = f"postgresql://ada:s3cret@127.0.0.1:{port}/users"

    with pytest.raises(
        CredentialStoreError,
        match=r"^Credential store PostgresCredentialStore\('postgresql://ada@"
        rf"127\.0\.0\.1:{port}/users'\) could not open the database: "
        r"OperationalError: .+; check that the server is up and reachable",
    ) as caught:
        PostgresCredentialStore(url, key=KEY, timeout=1)

    assert "s3cret" not in str(caught.value)
    assert caught.value.store == f"postgresql://ada@127.0.0.1:{port}/users"


def test_a_conninfo_libpq_cannot_read_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="is not a PostgreSQL URL") as caught:
        PostgresCredentialStore("host=db password='unclosed", key=KEY)

    assert "unclosed" not in str(caught.value)
    assert caught.value.option == "url"


# ---------------------------------------------------------------- the keys


@pytest.mark.parametrize(
    ("key", "match"),
    [
        (
            "not-a-fernet-key",
            r"^The key given to SQLiteCredentialStore\('.+'\) is "
            r"not a Fernet key \(32 url-safe base64-encoded bytes\); make one with "
            r"cryptography\.fernet\.Fernet\.generate_key\(\)",
        ),
        ([KEY, b"c2hvcnQ="], r"^Key 1 of the list given to .+ is not a Fernet key"),
        ([KEY, 42], r"^Key 1 given to .+ is of type int, not a Fernet key"),
        ([KEY, ""], r"^Key 1 given to .+ is empty, not a Fernet key"),
        ([], r"needs key=: it encrypts every credential it stores"),
        (None, r"needs key=: it encrypts every credential it stores"),
    ],
)
def test_a_key_that_is_no_fernet_key_is_a_credential_store_error(
    tmp_path: Path, key: object, match: str
) -> None:
    path = tmp_path / "credentials.db"

    with pytest.raises(CredentialStoreError, match=match) as caught:
        SQLiteCredentialStore(path, key=key)  # type: ignore[arg-type]  # wrong on purpose

    assert "not-a-fernet-key" not in str(caught.value)
    assert caught.value.store == str(path)
    assert not path.exists()  # refused before the file is made


def test_without_cryptography_a_store_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "cryptography.fernet", None)

    with pytest.raises(
        ConfigurationError, match=r"pip install 'fiscus_dsl\[credentials\]'$"
    ) as caught:
        SQLiteCredentialStore(tmp_path / "credentials.db", key=KEY)

    assert caught.value.option == "key"


def test_without_psycopg_a_postgres_store_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg_pool", None)

    with pytest.raises(
        ConfigurationError, match=r"'psycopg_pool' is not installed; install them"
    ):
        PostgresCredentialStore("postgresql://db/users", key=KEY)


# --------------------------------------------------- open_credential_store


def test_open_credential_store_opens_each_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_database: str
) -> None:
    monkeypatch.chdir(tmp_path)

    memory = open_credential_store("memory:")
    relative = open_credential_store("sqlite:///relative.db", key=KEY)
    absolute = open_credential_store(f"sqlite:///{tmp_path}/absolute.db", key=[KEY])
    plain = open_credential_store(str(tmp_path / "plain.db"), key=Secret(KEY.decode()))
    postgres = open_credential_store(postgres_database, key=KEY)

    assert isinstance(memory, MemoryCredentialStore)
    assert repr(relative) == "SQLiteCredentialStore('relative.db')"
    assert repr(absolute) == f"SQLiteCredentialStore('{tmp_path}/absolute.db')"
    assert repr(plain) == f"SQLiteCredentialStore('{tmp_path / 'plain.db'}')"
    assert isinstance(postgres, PostgresCredentialStore)
    assert (tmp_path / "relative.db").exists()
    for store in (relative, absolute, plain, postgres):
        assert store.put("ada", "crm", api_key()).version == 1
        store.close()  # type: ignore[attr-defined]  # a SealedStore


@pytest.mark.parametrize(
    "url", ["mysql://ada:s3cret@db/users", "sqlite:///", "sqlite://relative.db", ""]
)
def test_open_credential_store_refuses_other_urls(url: str) -> None:
    with pytest.raises(
        ConfigurationError, match=r"names no credential store; write 'memory:'"
    ) as caught:
        open_credential_store(url, key=KEY)

    assert "s3cret" not in str(caught.value)
    assert caught.value.option == "url"


@pytest.mark.parametrize(
    "url", ["sqlite:///credentials.db", "postgresql://ada:s3cret@db/users"]
)
def test_open_credential_store_needs_a_key_for_a_database(url: str) -> None:
    with pytest.raises(CredentialStoreError, match="needs key=") as caught:
        open_credential_store(url)

    assert "s3cret" not in str(caught.value)
    assert caught.value.store in ("credentials.db", "postgresql://ada:***@db/users")


# --------------------------------------------------------- StoredCredential


def test_a_credentials_repr_shows_no_token() -> None:
    shown = repr(oauth2()) + repr(api_key()) + str(oauth2())

    for text in (API_KEY, ACCESS, REFRESH):
        assert text not in shown
    assert "Secret('**********')" in shown


@pytest.mark.parametrize(
    ("fields", "option", "match"),
    [
        ({"kind": "basic"}, "kind", r"kind='basic'\) is not a credential kind"),
        ({"kind": "api_key", "api_key": API_KEY}, "api_key", r"as a Secret, got str"),
        ({"kind": "oauth2"}, "access_token", r"needs access_token"),
        (
            {
                "kind": "api_key",
                "api_key": Secret(API_KEY),
                "refresh_token": Secret(REFRESH),
            },
            "refresh_token",
            r"holds no refresh_token; leave it out, or store an 'oauth2' credential",
        ),
        (
            {
                "kind": "oauth2",
                "access_token": Secret(ACCESS),
                "api_key": Secret(API_KEY),
            },
            "api_key",
            r"holds no api_key; leave it out, or store an 'api_key' credential",
        ),
    ],
)
def test_a_credential_refuses_fields_that_do_not_fit(
    fields: dict[str, object], option: str, match: str
) -> None:
    with pytest.raises(ConfigurationError, match=match) as caught:
        StoredCredential(**fields)  # type: ignore[arg-type]  # wrong on purpose

    assert caught.value.option == option
    assert API_KEY not in str(caught.value)


def test_a_credential_expires_a_margin_before_its_time() -> None:
    token = oauth2()
    assert token.expires_at is not None

    assert not token.expired(now=token.expires_at - 31)
    assert token.expired(now=token.expires_at - 30)
    assert token.expired(now=token.expires_at - 5, margin=5)
    assert not token.expired(now=token.expires_at - 6, margin=5)
    assert not api_key().expired(now=1e12)
