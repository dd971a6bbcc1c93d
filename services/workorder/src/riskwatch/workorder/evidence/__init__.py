"""Evidence of work orders: photos and documents, stored checksummed behind `EvidenceStore`."""
