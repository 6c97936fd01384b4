"""Presentation shared by the report, the slides, the portfolio page and the explorer: one number formatter
(:mod:`~rcmkit.present.format`), KPI tiles (:mod:`~rcmkit.present.tiles`), charts (:mod:`~rcmkit.present.charts`),
the narrative (:mod:`~rcmkit.present.narrative`), the client appendix of definitions in words
(:mod:`~rcmkit.present.appendix`) and CSV cells a spreadsheet will not run
(:mod:`~rcmkit.present.csvsafe`). Nothing here computes a metric.
"""
