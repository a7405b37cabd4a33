"""The command line (``openworld run | report | show | demo | worlds``) and the tools behind
its smaller commands."""
