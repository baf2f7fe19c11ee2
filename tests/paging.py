"""Walking a TableView's pages, as the browser tests of each kind of store do."""

from __future__ import annotations

from collections.abc import Callable

from tui_insert.core.browse import Page, Query, TableView


def rows_of(page: Page) -> list[tuple]:
    return page.rows


def keyed(page: Page) -> list[tuple]:
    """Each row with its key (the last ORDER BY value) in front, so duplicates tell apart."""
    return [(order[-1], *row) for order, row in zip(page.order, page.rows, strict=True)]


async def check_paging(
    view: TableView,
    query: Query,
    expected: list[tuple],
    entries: Callable[[Page], list[tuple]] = keyed,
) -> None:
    """Walking `next` from the first page and `previous` from the last gives `expected`, with
    every page's start, length and total exact."""
    page, seen = await view.go("first", query), []
    while True:
        assert (page.start, page.total) == (len(seen), len(expected))
        assert entries(page) == expected[page.start : page.start + len(page.rows)]
        seen += entries(page)
        if page.start + len(page.rows) >= page.total:
            break
        assert len(page.rows) == view.page_rows
        page = await view.go("next")
    assert seen == expected
    assert await view.go("next") == page  # at the end, the same page

    page = await view.go("last")
    assert page.start == len(expected) - len(page.rows)
    assert entries(page) == expected[page.start :]
    assert len(page.rows) == min(view.page_rows, len(expected))
    while page.start > 0:
        later, page = page, await view.go("previous")
        assert page.total == len(expected)
        assert entries(page) == expected[page.start : page.start + len(page.rows)]
        assert len(page.rows) == view.page_rows
        # Pages meet exactly; only the first page may overlap the one after it.
        assert page.start + len(page.rows) == later.start or page.start == 0 < later.start
