"""Uploaded and built-in images: upload once, refer to them by id afterwards."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.responses import Response

from app.api.shared import errors
from app.core import images
from app.http.deps import ActorDep, ImagesDep, ResultsDep
from app.services.images import StoredImage
from app.services.schemas import ImageGrid, ImageInfo

router = APIRouter(prefix="/api/v1", tags=["images"])

ERRORS = errors(404, 413, 415, 422)


def image_info(img: StoredImage) -> ImageInfo:
    return ImageInfo(id=img.id, width=img.width, height=img.height, format=img.format,
                     url=f"/api/v1/images/{img.id}", title=img.title,
                     credit=img.credit)


@router.post("/images", status_code=201, response_model=ImageInfo,
             responses={k: v for k, v in ERRORS.items() if k != 404})
def upload_image(file: Annotated[UploadFile, File(description="PNG, JPEG, WebP, GIF, BMP or TIFF")],
                 store: ImagesDep, actor: ActorDep) -> ImageInfo:
    """Upload an image; its id is a hash of its bytes, so uploading it again gives the same id.
    In shared mode each visitor keeps their newest 32 uploads (an older one is then 404)."""
    return image_info(store.upload(file.file.read(), actor.owner))


@router.get("/images", response_model=list[ImageInfo])
def list_samples(store: ImagesDep) -> list[ImageInfo]:
    """The built-in sample images (uploads are not listed: they are reached by their id)."""
    return [image_info(s) for s in store.samples]


@router.get("/images/{image_id}", response_class=Response, responses={
    200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}},
    **errors(404, 422)})
def get_image(image_id: str, store: ImagesDep,
              size: Annotated[Literal["full", "preview"], Query()] = "full",
              format: Annotated[Literal["png", "jpeg", "webp"], Query()] = "png") -> Response:
    """The image as stored (orientation applied, RGB), full size or the ≤ 1024 px preview."""
    img = store.get(image_id)
    data = images.encode(img.pixels(size), format)
    return Response(data, media_type=images.MEDIA_TYPES[format],
                    headers={"Cache-Control": "max-age=3600"})


@router.get("/images/{image_id}/grid", response_model=ImageGrid,
            responses={**errors(404, 422)})
def get_image_grid(image_id: str, store: ImagesDep,
                   rows: Annotated[int, Query(ge=1, le=64)] = 16,
                   cols: Annotated[int, Query(ge=1, le=64)] = 16,
                   channels: Annotated[Literal["gray", "rgb"], Query()] = "gray") -> ImageGrid:
    """The image as a small grid of 0-255 numbers (centre crop, averaged down), ready for the
    stepper: rows × cols for gray, 3 × rows × cols for rgb."""
    grid = images.to_grid(store.get(image_id).pixels("full"), rows, cols, channels)
    return ImageGrid(input=grid.tolist(), shape=list(grid.shape))


@router.get("/results/{result_id}", response_class=Response, responses={
    200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}},
    404: ERRORS[404]})
def get_result(result_id: str, results: ResultsDep) -> Response:
    """A picture rendered by /convolve or /filter-bank (kept for a while, then evicted)."""
    r = results.get(result_id)
    return Response(r.data, media_type=r.media_type, headers={"Cache-Control": "max-age=3600"})
