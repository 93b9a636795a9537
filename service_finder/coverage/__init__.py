"""Coverage and gap analysis: where and when can nobody reach an open, eligible service?"""
