"""Attribute and metric names, taken from the `opentelemetry-semantic-conventions` package.

Never hand-typed: a rename upstream is a failed import here, not a silent drift. The HTTP,
URL, server, network, user-agent and error names are stable (`opentelemetry.semconv.
attributes`); so are the database names (semconv 1.33: `db.system.name`, `db.query.text`,
`db.namespace`, `db.operation.name`, `db.collection.name`). The `sqlite` value of
`db.system.name` is still listed only in the incubating enum.
"""

from __future__ import annotations

from opentelemetry.semconv._incubating.attributes.db_attributes import DbSystemNameValues
from opentelemetry.semconv.attributes.db_attributes import (
    DB_COLLECTION_NAME,
    DB_NAMESPACE,
    DB_OPERATION_NAME,
    DB_QUERY_TEXT,
    DB_SYSTEM_NAME,
)
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.http_attributes import (
    HTTP_REQUEST_METHOD,
    HTTP_RESPONSE_STATUS_CODE,
    HTTP_ROUTE,
)
from opentelemetry.semconv.attributes.network_attributes import NETWORK_PROTOCOL_VERSION
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT
from opentelemetry.semconv.attributes.service_attributes import SERVICE_NAME, SERVICE_VERSION
from opentelemetry.semconv.attributes.url_attributes import URL_FULL, URL_PATH, URL_SCHEME
from opentelemetry.semconv.attributes.user_agent_attributes import USER_AGENT_ORIGINAL
from opentelemetry.semconv.metrics.http_metrics import HTTP_SERVER_REQUEST_DURATION

__all__ = [
    "DB_COLLECTION_NAME",
    "DB_NAMESPACE",
    "DB_OPERATION_NAME",
    "DB_QUERY_TEXT",
    "DB_SYSTEM_NAME",
    "DB_SYSTEM_SQLITE",
    "ERROR_TYPE",
    "HTTP_REQUEST_METHOD",
    "HTTP_RESPONSE_STATUS_CODE",
    "HTTP_ROUTE",
    "HTTP_SERVER_REQUEST_DURATION",
    "NETWORK_PROTOCOL_VERSION",
    "SERVER_ADDRESS",
    "SERVER_PORT",
    "SERVICE_NAME",
    "SERVICE_VERSION",
    "URL_FULL",
    "URL_PATH",
    "URL_SCHEME",
    "USER_AGENT_ORIGINAL",
]

DB_SYSTEM_SQLITE: str = DbSystemNameValues.SQLITE.value
