"""A local emulator of the Salesforce REST/SOAP APIs, served over HTTPS for the real simple-salesforce client.

Shape (after moto): ``models`` holds org state and the org's validation rules and raises the real errors,
``soql`` parses and runs the SOQL subset, ``responses`` parses requests and serialises answers,
``routes`` maps method + path to handlers (data only), ``errors`` has one class per real error code,
``server`` runs it (in-process for tests, or as a process). Fidelity notes cite their sources; see
``docs/salesforce.md`` for the coverage table.
"""

from __future__ import annotations
