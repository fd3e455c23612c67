"""`tf.errors`: the exception classes programs catch. Each is also the Python exception lstmkit
raises for the same mistake (an `InvalidArgumentError` is a `ValueError`)."""


class OpError(Exception):
    pass


class InvalidArgumentError(OpError, ValueError):
    pass


class OutOfRangeError(OpError, IndexError):
    pass


class NotFoundError(OpError, FileNotFoundError):
    pass


class ResourceExhaustedError(OpError, MemoryError):
    pass


class UnimplementedError(OpError, NotImplementedError):
    pass


class FailedPreconditionError(OpError, RuntimeError):
    pass
