"""From thickness, depth, mask and probability to the answers a well-integrity engineer asks for.

Today: the Pipeline Operators Forum dimension class of a metal-loss feature
(:mod:`corroseg.interpret.pof`) and a screening burst rating of a corroded casing
joint: intact API burst, ASME B31G original and modified, DNV-RP-F101 single defect
(:mod:`corroseg.interpret.strength`). Small pure functions on numbers and numpy
arrays; this layer imports nothing above ``data`` / ``models`` / ``errors``.
"""
