"""Local emulators of the Salesforce and HubSpot APIs, spoken to by the real client libraries.

One package per CRM (``sandbox.salesforce``, ``sandbox.hubspot``), shaped like moto: ``models``
(state and the real API's validation, raising the real errors), ``responses`` (parse, call, serialise),
``routes`` (data), ``errors`` (one class per real error code). Never used in production code paths.
"""
