"""One app, any provider: the code below never names a vendor; ``VISUALSEARCH_URL`` picks it.

    VISUALSEARCH_URL=memory:// python examples/switch_vendor.py PHOTOS
    VISUALSEARCH_URL='ximilar://TOKEN@api.ximilar.com/COLLECTION?service=products' python ... PHOTOS
    VISUALSEARCH_URL='visearch://ACCESS:SECRET@visearch.visenze.com' python ... PHOTOS --image-base-url URL

PHOTOS holds one subfolder per category (``dress/red.jpg``); ids are the relative paths. Optional features
are checked in ``vs.capabilities`` first, or tried and ``UnsupportedCapabilityError`` caught (raised before
any request is sent). What differs per provider (``visualsearch capabilities`` prints the whole matrix):

  local (memory://)  every feature shown here but search by URL
  ximilar            no colour search
  visearch           indexes only from URLs it downloads (--image-base-url: where PHOTOS is served over
                     HTTP), asynchronously (index(wait=True) waits); colour and URL search
  visualsnoop        no metadata (dropped on indexing), no filters, no colour search
  alibaba            filters only fields mapped to attribute slots (add ?attributes=category:StrAttr to the
                     URL); no colour search
"""

from __future__ import annotations

import argparse
from pathlib import Path

from visualsearch_sdk import (
    Capability,
    F,
    ImageRecord,
    SearchResult,
    UnsupportedCapabilityError,
    VisualSearch,
)


def records(root: Path, caps: frozenset[Capability], base_url: str | None) -> list[ImageRecord]:
    """The images under ``root``: uploaded where the provider takes bytes, else given by URL."""
    by_url = Capability.INDEX_FROM_BYTES not in caps  # the provider downloads each image itself
    if by_url and not base_url:
        raise SystemExit("this provider indexes images from URLs only: pass --image-base-url")
    found = []
    for path in sorted(root.glob("*/*.jpg")):
        rid, meta = path.relative_to(root).as_posix(), {"category": path.parent.name}
        if by_url:
            found.append(ImageRecord(id=rid, url=f"{base_url}/{rid}", metadata=meta))
        else:
            found.append(ImageRecord(id=rid, image=path, metadata=meta))
    return found


def show(title: str, result: SearchResult) -> None:
    print(f"{title}: {', '.join(result.ids)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The same app code against any provider.")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--image-base-url", help="where FOLDER is served over HTTP (ViSearch needs it)")
    args = parser.parse_args(argv)
    base_url = args.image_base_url.rstrip("/") if args.image_base_url else None

    with VisualSearch.from_env() as vs:  # VISUALSEARCH_URL, else VISUALSEARCH_PROFILE, else memory://
        caps = vs.capabilities
        print(f"provider: {vs.provider}; can: {', '.join(sorted(caps))}")
        report = vs.index(
            records(args.folder, caps, base_url),
            upsert=True,
            drop_metadata=Capability.METADATA not in caps,  # else each record with metadata fails
            wait=True,  # where indexing is asynchronous (ViSearch), wait until it is done; else a no-op
        )
        print(f"indexed {len(report.succeeded)}, failed {len(report.failed)}")
        for failure in report.failed:
            print(f"  {failure.id}: {failure.error_type} ({failure.reason})")
        if not report.succeeded:
            raise SystemExit("nothing was indexed")
        first = report.succeeded[0]
        show(f"by image {first}", vs.search(image=args.folder / first, limit=3))
        show(f"by id {first}", vs.search(id=first, limit=3))

        if Capability.FILTERS in caps:
            try:
                hits = vs.search(id=first, limit=3, filter=F("category") == "shoe")
                show("by id, category == 'shoe'", hits)
            except UnsupportedCapabilityError as exc:  # UnsupportedFilterError: this filter, here
                print(f"filter refused: {exc}")
        else:
            print("filters: not supported")

        if Capability.SEARCH_BY_URL in caps and base_url:
            show("by URL", vs.search(url=f"{base_url}/{first}", limit=3))

        try:  # or just try: the SDK refuses before any I/O
            show("by colour #c8282d", vs.search(color="#c8282d", limit=3))
        except UnsupportedCapabilityError as exc:
            print(f"by colour: not supported by {exc.provider} ({exc.capability})")


if __name__ == "__main__":
    main()
