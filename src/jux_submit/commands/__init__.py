"""The commands: thin modules on top that compose the stages and return data.

``submit`` (the default), ``resubmit``, ``package`` and ``detect``; ``cli`` prints what they
return and maps it to an exit code. Stages and stores never import a command.
"""
