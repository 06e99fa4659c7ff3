"""Plivo at the edge: the webhook decorator and signatures, replays, the form parsed once, XML, REST, checks and
the webhook views. Nothing outside this package reads a Plivo field name or builds Plivo XML."""
