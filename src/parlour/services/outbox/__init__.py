"""The durable outbox: messages written in the same step as the change that causes them.

``records`` (a message as stored), ``keys`` (where a message and its queue live in a
namespace), ``queue`` (which shard a message waits in, and a scan's answer), ``store`` (one
namespace's outbox: staging, scanning, leases, staff's retries), ``outboxes`` (every namespace's
outbox together) and ``relay`` (what the SMTP relay can take). Names are imported
from the module that defines them; this package re-exports nothing.
"""
