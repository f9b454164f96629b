"""The durable outbox: messages written in the same step as the change that causes them.

``records`` (a message as stored), ``keys`` (where a message and its queue live in a
namespace), ``store`` (one namespace's outbox: staging, the queue, leases), ``outboxes`` (every
namespace's outbox together) and ``relay`` (what the SMTP relay can take). Names are imported
from the module that defines them; this package re-exports nothing.
"""
