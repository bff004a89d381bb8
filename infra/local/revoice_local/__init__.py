"""revoice's local tooling: the sync. labs emulator, the local AWS stack, the demo and the CLI.

Never deployed to Lambda; installed with the ``dev`` extras.
"""
