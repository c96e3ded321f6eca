"""Segmentation helpers and matplotlib plots of a customer frame."""
