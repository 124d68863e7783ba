"""Pool orchestration: XAPI, the planner and the manifest, deploy and day-2 operations,
the storage VM appliance. Runs wherever the admin runs ``xosan`` (a dom0 or any machine
that reaches the pool master), never inside the SM driver.
"""
