"""Permission levels, as MLflow's basic-auth app names them, and what each one allows.

======================  ====  ======  ======  ======
level                   read  update  delete  manage
======================  ====  ======  ======  ======
``READ``                yes
``EDIT``                yes   yes
``MANAGE``              yes   yes     yes     yes
``NO_PERMISSIONS``
======================  ====  ======  ======  ======

A user's level on an experiment or registered model is the one granted to them on it, else
the server's default (``--auth-default-permission``, ``READ`` unless set, as MLflow).
Admins may do everything.
"""

from __future__ import annotations

from enum import Enum

from trackyard.errors import TrackyardError

__all__ = ["EXPERIMENT", "REGISTERED_MODEL", "RESOURCE_TYPES", "Action", "Permission"]

#: Resource types permissions are granted on (MLflow's names).
EXPERIMENT = "experiment"
REGISTERED_MODEL = "registered_model"
RESOURCE_TYPES = (EXPERIMENT, REGISTERED_MODEL)


class Action(Enum):
    """What a request does to a resource."""

    READ = "read"
    UPDATE = "update"
    DELETE = "delete"
    MANAGE = "manage"


_ALLOWS = {
    "READ": frozenset({Action.READ}),
    "EDIT": frozenset({Action.READ, Action.UPDATE}),
    "MANAGE": frozenset(Action),
    "NO_PERMISSIONS": frozenset(),
}


class Permission(str, Enum):
    """A permission level."""

    READ = "READ"
    EDIT = "EDIT"
    MANAGE = "MANAGE"
    NO_PERMISSIONS = "NO_PERMISSIONS"

    def allows(self, action: Action) -> bool:
        """Whether this level allows ``action``."""
        return action in _ALLOWS[self.value]

    @classmethod
    def parse(cls, value: object) -> Permission:
        """The level named ``value``; INVALID_PARAMETER_VALUE for anything else."""
        try:
            return cls(str(value))
        except ValueError:
            names = ", ".join(p.value for p in cls)
            raise TrackyardError.invalid_parameter_value(
                f"Invalid permission '{value}'. Valid permissions are: {names}"
            ) from None


def check_resource_type(value: object) -> str:
    """``value`` when it names a resource type permissions apply to."""
    if value not in RESOURCE_TYPES:
        raise TrackyardError.invalid_parameter_value(
            f"Invalid resource type '{value}'. Valid resource types are: "
            + ", ".join(RESOURCE_TYPES)
        )
    return str(value)
