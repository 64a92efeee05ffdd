import equinox as eqx


class Serializable(eqx.Module):
    """Temporary placeholder, being replaced by the real mixin."""
