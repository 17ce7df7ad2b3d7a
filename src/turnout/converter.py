"""``turnout.converter``: the counterpart of ``temporalio.converter``.

``temporalio.converter.default().payload_converter`` becomes
``turnout.converter.default().payload_converter``: what client code makes header
payloads with (see ``turnout.client.Interceptor``). turnout converts every other value
with pydantic from the type hints, so there is no converter to configure.
"""

from turnout.contracts.converter import DataConverter, default
from turnout.contracts.payloads import PayloadConverter

__all__ = ["DataConverter", "PayloadConverter", "default"]
