from .pipeline import ArcPipeline

__all__ = ["ArcPipeline"]
