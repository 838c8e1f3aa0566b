"""One router per area of the API."""

from api.problems import responses

# Every route documents every problem it can answer, so clients (and schemathesis) know them.
PROBLEMS = responses(400, 401, 403, 404, 409, 412, 413, 415, 422, 503)
