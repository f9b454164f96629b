"""What a change tells people, and when: ``messages`` (what each notice says, as typed data
stored in the outbox) and ``notifier`` (which notices a booking's change or a password reset
stages into its own transact). Services make the messages and the mail package renders and sends
them, so mail imports from here and nothing here imports mail. Names are imported from the
module that defines them; this package re-exports nothing.
"""
