"""Identity-verification providers: API clients that sign requests as each provider documents, and webhook
verification that moves an account's tier (Sumsub: ``X-Payload-Digest``; Onfido: ``X-SHA2-Signature``)."""

from compliance.providers.onfido import OnfidoClient
from compliance.providers.sumsub import SumsubClient
from compliance.providers.webhooks import KycWebhooks, WebhookRefused

__all__ = ["KycWebhooks", "OnfidoClient", "SumsubClient", "WebhookRefused"]
