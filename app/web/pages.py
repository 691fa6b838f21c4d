"""The home page: what the playground is and where each lab lives."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.http.deps import TemplatesDep

router = APIRouter(include_in_schema=False)

LABS = (
    {"title": "Kernel lab", "href": "/kernels",
     "text": "Slide a small grid of numbers over a picture and watch edges, blur and sharpness "
             "appear. Edit every number, stack a whole filter bank."},
    {"title": "Stepper", "href": "/stepper",
     "text": "Step through a convolution, a pooling or gradient descent one step at a time, "
             "with every product written out."},
    {"title": "Live training", "href": "/training",
     "text": "Train a small CNN on real MNIST digits and watch its filters and curves change."},
    {"title": "Model inspector", "href": "/inspector",
     "text": "Draw a digit and see what every layer of a trained CNN makes of it, where it "
             "looks, and what its units respond to."},
    {"title": "Generative lab", "href": "/generative",
     "text": "Walk through the latent space of a VAE and a GAN trained on handwritten digits."},
    {"title": "Sequence lab", "href": "/sequences",
     "text": "Step an RNN, an LSTM and a GRU by hand, see why LSTMs remember, then train a "
             "character model live and watch its names turn from noise into names."},
)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, templates: TemplatesDep) -> HTMLResponse:
    return templates.TemplateResponse(request, "home.html", {"labs": LABS})
