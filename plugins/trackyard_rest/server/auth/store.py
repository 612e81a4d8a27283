"""Users and their permissions, in SQL tables trackyard owns (SQLAlchemy Core).

Tables (all prefixed ``trackyard_auth_``, so they sit beside MLflow's schema in the backend
database without touching it, MLflow's ``alembic_version`` included):

- ``trackyard_auth_schema(name, version)``: this schema's own version bookkeeping;
- ``trackyard_auth_users(id, username, password_hash, is_admin)``;
- ``trackyard_auth_permissions(user_id, resource_type, resource_id, permission)``, one row per
  grant on an experiment (by id) or registered model (by name).

Every call is one short transaction, so any number of server processes share the state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa

from trackyard.errors import ErrorCode, TrackyardError
from trackyard.uri import mask_credentials
from trackyard_rest.server.auth.passwords import check_password, hash_password
from trackyard_rest.server.auth.permissions import Permission, check_resource_type

__all__ = ["SCHEMA_VERSION", "AuthStore", "User"]

_logger = logging.getLogger("trackyard.server.auth")

#: Version of the tables this code reads and writes.
SCHEMA_VERSION = 1
T = TypeVar("T")

_meta = sa.MetaData()
_schema = sa.Table(
    "trackyard_auth_schema",
    _meta,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)
_users = sa.Table(
    "trackyard_auth_users",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(255), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("is_admin", sa.Boolean, nullable=False, default=False),
)
_grants = sa.Table(
    "trackyard_auth_permissions",
    _meta,
    sa.Column(
        "user_id",
        sa.Integer,
        sa.ForeignKey("trackyard_auth_users.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("resource_type", sa.String(32), primary_key=True),
    sa.Column("resource_id", sa.String(256), primary_key=True),
    sa.Column("permission", sa.String(32), nullable=False),
)


@dataclass(frozen=True)
class User:
    """A user as the API shows it: never with a password hash."""

    id: int
    username: str
    is_admin: bool

    def to_json(self) -> dict[str, Any]:
        """MLflow's ``User`` message."""
        return {"id": self.id, "username": self.username, "is_admin": self.is_admin}


@dataclass(frozen=True)
class Grant:
    """One permission row."""

    user_id: int
    resource_type: str
    resource_id: str
    permission: Permission


def _user(row: Any) -> User:
    return User(int(row.id), str(row.username), bool(row.is_admin))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA busy_timeout = 30000")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.close()


def _not_found(username: str) -> TrackyardError:
    return TrackyardError(
        f"User with username={username} not found", ErrorCode.RESOURCE_DOES_NOT_EXIST
    )


def _checked_password(password: object) -> str:
    if not isinstance(password, str) or not password:
        raise TrackyardError.invalid_parameter_value("Password cannot be empty.")
    try:
        check_password(password)
    except ValueError as exc:
        raise TrackyardError.invalid_parameter_value(str(exc)) from None
    return password


class AuthStore:
    """The user and permission tables of one database.

    Args:
        uri: a SQLAlchemy database URL (``sqlite:///auth.db``, ``postgresql://...``).
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri
        try:
            url = sa.engine.make_url(uri)
        except sa.exc.ArgumentError as exc:
            raise TrackyardError.invalid_parameter_value(
                f"Not a database URI for the auth tables: {mask_credentials(uri)}"
            ) from exc
        self.engine = sa.create_engine(url, pool_pre_ping=True)
        if url.get_backend_name() == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)

    # -- schema ----------------------------------------------------------------------------

    def init_schema(self) -> None:
        """Create the tables when missing (several processes may race: retried)."""
        for attempt in range(5):
            try:
                self._init_once()
                return
            except sa.exc.DBAPIError:
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))

    def _init_once(self) -> None:
        _meta.create_all(self.engine, checkfirst=True)
        with self.engine.begin() as conn:
            found = conn.execute(
                sa.select(_schema.c.version).where(_schema.c.name == "auth")
            ).scalar()
            if found is None:
                conn.execute(_schema.insert().values(name="auth", version=SCHEMA_VERSION))
            elif int(found) > SCHEMA_VERSION:
                raise TrackyardError(
                    f"The auth tables in {mask_credentials(self.uri)} have schema version "
                    f"{found}, newer than this trackyard ({SCHEMA_VERSION}); upgrade trackyard.",
                    ErrorCode.INTERNAL_ERROR,
                )

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[sa.Connection]:
        with self.engine.begin() as conn:
            yield conn

    def _retry(self, work: Callable[[sa.Connection], T]) -> T:
        for attempt in range(4):
            try:
                with self._tx() as conn:
                    return work(conn)
            except sa.exc.OperationalError:
                if attempt == 3:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    # -- users -----------------------------------------------------------------------------

    def create_user(self, username: str, password: str, is_admin: bool = False) -> User:
        """Add a user; RESOURCE_ALREADY_EXISTS when the name is taken."""
        if not username:
            raise TrackyardError.invalid_parameter_value("Username cannot be empty.")
        if len(username) > 255:
            raise TrackyardError.invalid_parameter_value("Username is longer than 255 characters.")
        digest = hash_password(_checked_password(password))
        try:
            with self._tx() as conn:
                conn.execute(
                    _users.insert().values(
                        username=username, password_hash=digest, is_admin=is_admin
                    )
                )
        except sa.exc.IntegrityError:
            raise TrackyardError(
                f"User '{username}' already exists.", ErrorCode.RESOURCE_ALREADY_EXISTS
            ) from None
        return self.get_user(username)

    def find_user(self, username: str) -> User | None:
        """The user named ``username``, or None."""
        with self._tx() as conn:
            row = conn.execute(
                sa.select(_users.c.id, _users.c.username, _users.c.is_admin).where(
                    _users.c.username == username
                )
            ).first()
        return None if row is None else _user(row)

    def get_user(self, username: str) -> User:
        """The user named ``username``; RESOURCE_DOES_NOT_EXIST when there is none."""
        user = self.find_user(username)
        if user is None:
            raise _not_found(username)
        return user

    def credentials(self, username: str) -> tuple[User, str] | None:
        """The user and their stored password hash (for checking a login only)."""
        with self._tx() as conn:
            row = conn.execute(sa.select(_users).where(_users.c.username == username)).first()
        return None if row is None else (_user(row), str(row.password_hash))

    def list_users(self) -> list[User]:
        """Every user, by id."""
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(_users.c.id, _users.c.username, _users.c.is_admin).order_by(_users.c.id)
            ).all()
        return [_user(r) for r in rows]

    def has_admin(self) -> bool:
        """Whether any admin user exists."""
        with self._tx() as conn:
            found = conn.execute(
                sa.select(_users.c.id).where(_users.c.is_admin == sa.true()).limit(1)
            ).first()
        return found is not None

    def _update_user(self, username: str, **values: Any) -> None:
        with self._tx() as conn:
            done = conn.execute(
                _users.update().where(_users.c.username == username).values(**values)
            )
        if done.rowcount == 0:
            raise _not_found(username)

    def update_password(self, username: str, password: str) -> None:
        """Set a new password (a new salt and hash)."""
        self._update_user(username, password_hash=hash_password(_checked_password(password)))

    def set_admin(self, username: str, is_admin: bool) -> None:
        """Grant or take away admin rights."""
        self._update_user(username, is_admin=is_admin)

    def delete_user(self, username: str) -> None:
        """Remove a user and their permissions."""
        user = self.get_user(username)
        with self._tx() as conn:
            conn.execute(_grants.delete().where(_grants.c.user_id == user.id))
            conn.execute(_users.delete().where(_users.c.id == user.id))

    # -- permissions -----------------------------------------------------------------------

    def permissions_of(self, user_id: int, resource_type: str) -> dict[str, Permission]:
        """A user's grants on one resource type: resource id → level."""
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(_grants.c.resource_id, _grants.c.permission).where(
                    _grants.c.user_id == user_id, _grants.c.resource_type == resource_type
                )
            ).all()
        return {str(r.resource_id): Permission(r.permission) for r in rows}

    def grants_of(self, user_id: int) -> list[Grant]:
        """Every grant a user holds."""
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(_grants)
                .where(_grants.c.user_id == user_id)
                .order_by(_grants.c.resource_type, _grants.c.resource_id)
            ).all()
        return [
            Grant(int(r.user_id), r.resource_type, r.resource_id, Permission(r.permission))
            for r in rows
        ]

    def get_grant(self, username: str, resource_type: str, resource_id: str) -> Grant:
        """One user's grant on one resource; RESOURCE_DOES_NOT_EXIST when none."""
        user = self.get_user(username)
        found = self.permissions_of(user.id, check_resource_type(resource_type)).get(resource_id)
        if found is None:
            raise TrackyardError(
                f"{resource_type} permission with {resource_type}={resource_id} and "
                f"username={username} not found",
                ErrorCode.RESOURCE_DOES_NOT_EXIST,
            )
        return Grant(user.id, resource_type, resource_id, found)

    def create_grant(
        self, username: str, resource_type: str, resource_id: str, permission: Permission
    ) -> Grant:
        """Add a grant; RESOURCE_ALREADY_EXISTS when the user has one on the resource."""
        user = self.get_user(username)
        row = {
            "user_id": user.id,
            "resource_type": check_resource_type(resource_type),
            "resource_id": resource_id,
            "permission": permission.value,
        }
        try:
            with self._tx() as conn:
                conn.execute(_grants.insert().values(**row))
        except sa.exc.IntegrityError:
            raise TrackyardError(
                f"{resource_type} permission ({resource_id}, {username}) already exists.",
                ErrorCode.RESOURCE_ALREADY_EXISTS,
            ) from None
        return Grant(user.id, resource_type, resource_id, permission)

    def set_grant(
        self, username: str, resource_type: str, resource_id: str, permission: Permission
    ) -> None:
        """Add or replace a grant."""
        user = self.get_user(username)
        check_resource_type(resource_type)

        def work(conn: sa.Connection) -> None:
            where = (
                (_grants.c.user_id == user.id)
                & (_grants.c.resource_type == resource_type)
                & (_grants.c.resource_id == resource_id)
            )
            done = conn.execute(_grants.update().where(where).values(permission=permission.value))
            if done.rowcount == 0:
                conn.execute(
                    _grants.insert().values(
                        user_id=user.id,
                        resource_type=resource_type,
                        resource_id=resource_id,
                        permission=permission.value,
                    )
                )

        try:
            self._retry(work)
        except sa.exc.IntegrityError:  # another process inserted it first: update it
            self._retry(work)

    def update_grant(
        self, username: str, resource_type: str, resource_id: str, permission: Permission
    ) -> None:
        """Change an existing grant; RESOURCE_DOES_NOT_EXIST when there is none."""
        self.get_grant(username, resource_type, resource_id)
        self.set_grant(username, resource_type, resource_id, permission)

    def delete_grant(self, username: str, resource_type: str, resource_id: str) -> None:
        """Remove an existing grant; RESOURCE_DOES_NOT_EXIST when there is none."""
        grant = self.get_grant(username, resource_type, resource_id)
        with self._tx() as conn:
            conn.execute(
                _grants.delete().where(
                    _grants.c.user_id == grant.user_id,
                    _grants.c.resource_type == resource_type,
                    _grants.c.resource_id == resource_id,
                )
            )

    def revoke(self, username: str, resource_type: str, resource_id: str) -> None:
        """Remove a grant if there is one."""
        user = self.get_user(username)
        with self._tx() as conn:
            conn.execute(
                _grants.delete().where(
                    _grants.c.user_id == user.id,
                    _grants.c.resource_type == check_resource_type(resource_type),
                    _grants.c.resource_id == resource_id,
                )
            )

    def forget_resource(self, resource_type: str, resource_id: str) -> None:
        """Drop every grant on a resource (it was deleted)."""
        with self._tx() as conn:
            conn.execute(
                _grants.delete().where(
                    _grants.c.resource_type == resource_type,
                    _grants.c.resource_id == resource_id,
                )
            )

    def rename_resource(self, resource_type: str, old: str, new: str) -> None:
        """Move every grant on ``old`` to ``new`` (a registered model was renamed)."""
        with self._tx() as conn:
            conn.execute(
                _grants.update()
                .where(_grants.c.resource_type == resource_type, _grants.c.resource_id == old)
                .values(resource_id=new)
            )

    def has_grants(self, resource_type: str, resource_id: str) -> bool:
        """Whether anyone holds a grant on the resource."""
        with self._tx() as conn:
            found = conn.execute(
                sa.select(_grants.c.user_id)
                .where(_grants.c.resource_type == resource_type)
                .where(_grants.c.resource_id == resource_id)
                .limit(1)
            ).first()
        return found is not None
