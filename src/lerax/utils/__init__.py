"""Serialization core: no reinforcement-learning code may be imported here."""

from ._serializable import Serializable

__all__ = ["Serializable"]
