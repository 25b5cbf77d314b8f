"""Django's PostgreSQL backend with a health check that costs no round trip.

With persistent connections (CONN_MAX_AGE) and CONN_HEALTH_CHECKS, Django sends
`SELECT 1` before the first query of every request, so that a connection the server
closed (a restart, a terminated backend, an idle timeout) is replaced instead of failing
the request. That round trip was 7-8 % of a redemption's or a survey answer's time under
load (bench/README.md).

A server that closes an idle connection first writes to it (an error saying why) and
then closes it, and either makes the socket readable. Between requests nothing else
arrives on our connections: results are read to the end, and nothing here LISTENs. So
a socket with nothing to read is a connection the server has not given up on, and only
a readable one gets Django's `SELECT 1`, which finds out whether it still works.

A connection lost without a word (the network cut between the two machines) passes this
check; it failed Django's too, after the network timeout. The pool (OPTIONS["pool"])
keeps its own check.
"""

import select

from django.db.backends.postgresql import base


def server_has_written(connection) -> bool:
    """Whether the server sent something to this idle psycopg connection (or closed it)."""
    if connection.closed or connection.broken:
        return True
    try:
        readable, _, _ = select.select([connection.fileno()], [], [], 0)
    except (OSError, ValueError):  # no socket any more
        return True
    return bool(readable)


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self):
        if (
            self.pool is None
            and self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done
            and not server_has_written(self.connection)
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()
