"""Exit statuses of an interrupted ``python -m`` command line.

theoropt handles Ctrl-C (and SIGTERM) and returns 130. Under ``python -m``, CPython itself
then ends the process by SIGINT after its normal shutdown if the interrupt landed inside code
run through its run-string API (``run_eval_code_obj`` sets its unhandled-interrupt flag even
when the exception is caught later; seen during torch's import and Dask's start-up). A shell
shows 130 for both; ``subprocess`` reports 130 or -SIGINT.
"""

import signal

INTERRUPTED = (130, -signal.SIGINT)
