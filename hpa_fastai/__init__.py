"""Multi-label protein-localisation classification of Human Protein Atlas micrographs with fastai and timm"""

__version__ = "0.1.0"
