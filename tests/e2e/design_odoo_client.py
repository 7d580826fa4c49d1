# ruff: noqa
# The MCP Jobs design's "From Odoo" client, copied VERBATIM from the design (section "MCP Jobs System",
# "Integration Patterns"); tests/e2e/test_e2e_design.py checks that it still matches the design text
# when the design text is available. Do not edit below this line.
import os
import requests

SUPABASE_URL = os.getenv('SUPABASE_URL')
SUPABASE_SERVICE_ROLE_KEY = os.getenv('SUPABASE_SERVICE_ROLE_KEY')

def enqueue_discovery_job(source: str, payload: dict):
    """Enqueue infrastructure discovery job"""
    response = requests.post(
        f"{SUPABASE_URL}/rest/v1/rpc/enqueue_job",
        headers={
            'Authorization': f'Bearer {SUPABASE_SERVICE_ROLE_KEY}',
            'Content-Type': 'application/json',
            'Prefer': 'return=representation'
        },
        json={
            'p_source': source,
            'p_job_type': 'discovery',
            'p_payload': payload,
            'p_priority': 5
        }
    )
    response.raise_for_status()
    return response.json()
