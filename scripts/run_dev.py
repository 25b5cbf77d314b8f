"""`make run`'s process runner: honcho, with time for the worker's warm shutdown.

honcho sends SIGTERM to every process at Ctrl-C and SIGKILL to what is left five
seconds later (`honcho.manager.KILL_WAIT`, not an option). A Celery worker on kombu's
filesystem transport needs about that long to stop warmly (its consumer polls the
folders for up to two seconds before it sees the signal, then stops its timer and
pool), and a task it is running needs time to finish; a SIGKILL would cut it off.
"""

import sys

import honcho.manager
from honcho.command import main

honcho.manager.KILL_WAIT = 20

if __name__ == "__main__":
    sys.exit(main())
