"""The VAE: Gaussian posterior, standard-normal prior, MLP or convolutional encoder/decoder, any likelihood head."""
from autolik.model.vae import VAE, LossTerms

__all__ = ["VAE", "LossTerms"]
